# Config versions: bump when greeting.txt changes, so a new config is created.
export INDEX_VERSION=v1
