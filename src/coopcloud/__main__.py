from coopcloud.cli.main import main

raise SystemExit(main())
