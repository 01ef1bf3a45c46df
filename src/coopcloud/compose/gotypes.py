"""Small re-implementations of the Go helpers docker's compose loader relies on.

time.ParseDuration / Duration.String, go-units RAMInBytes, go-connections nat.ParsePortSpec,
google/shlex Split, fmt.Sprint of numbers, and the volume short-syntax parser. Pure functions;
each raises ValueError with docker's wording where it matters.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import re
from fractions import Fraction

from coopcloud.rawdata import JSONDict

# --- fmt.Sprint ---------------------------------------------------------------------------------


def go_float_str(f: float) -> str:
    """fmt.Sprint(float64): shortest repr, %e form when exponent < -4 or >= 21."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    r = repr(f)
    mant, _, exp = r.partition("e")
    digits = mant.lstrip("-").replace(".", "")
    if "e" in r:
        e = int(exp)
    else:
        ip, _, fp = mant.lstrip("-").partition(".")
        if ip != "0":
            e = len(ip) - 1
        else:
            stripped = fp.lstrip("0")
            e = -(len(fp) - len(stripped)) - 1 if stripped else 0
    sign = "-" if f < 0 or (f == 0 and r.startswith("-")) else ""
    if e < -4 or e >= 21:
        digits = digits.lstrip("0").rstrip("0") or "0"
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if f.is_integer():
        return f"{sign}{int(abs(f))}"
    return r.rstrip("0") if "e" not in r else f"{f:f}".rstrip("0")


def go_str(v: object) -> str:
    """fmt.Sprint of a YAML scalar."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return go_float_str(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (_dt.date, _dt.time)):  # what has `isoformat`: a YAML timestamp
        # time.Time's String(): "2001-12-14 00:00:00 +0000 UTC"
        return v.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")
    return str(v)


def str_or_empty(value: object) -> str:
    """A scalar as text, Go's way for booleans; None (an absent value) is ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def go_number_str(v: object) -> str:
    """The integer part docker's ports format checker sees for a number (big.Rat numerator)."""
    if isinstance(v, float):
        return str(Fraction(v).numerator)
    return str(v)


# --- durations ----------------------------------------------------------------------------------

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_DUR_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-zµμ]+)")


def parse_duration(s: str) -> int:
    """time.ParseDuration → nanoseconds."""
    orig = s
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f'time: invalid duration "{orig}"')
    total = Fraction(0)
    pos = 0
    while pos < len(s):
        m = _DUR_PART.match(s, pos)
        if not m or m.group(1) in ("", ".") or m.end() == pos:
            raise ValueError(f'time: invalid duration "{orig}"')
        unit = m.group(2)
        if unit not in _UNITS:
            raise ValueError(f'time: unknown unit "{unit}" in duration "{orig}"')
        total += Fraction(m.group(1)) * _UNITS[unit]
        pos = m.end()
    ns = int(total)
    if ns > 2**63 - 1:
        raise ValueError(f'time: invalid duration "{orig}"')
    return -ns if neg else ns


def _frac(v: int, prec: int) -> tuple[str, int]:
    digits = ""
    printed = False
    for _ in range(prec):
        d = v % 10
        printed = printed or d != 0
        if printed:
            digits = str(d) + digits
        v //= 10
    return (("." + digits) if printed else ""), v


def format_duration(ns: int) -> str:
    """time.Duration.String()."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < 10**9:
        if u < 1_000:
            out = f"{u}ns"
        elif u < 1_000_000:
            f, w = _frac(u, 3)
            out = f"{w}{f}µs"
        else:
            f, w = _frac(u, 6)
            out = f"{w}{f}ms"
    else:
        f, w = _frac(u, 9)
        secs = w % 60
        w //= 60
        out = f"{secs}{f}s"
        if w > 0:
            mins = w % 60
            w //= 60
            out = f"{mins}m{out}"
            if w > 0:
                out = f"{w}h{out}"
    return ("-" if neg else "") + out


# --- sizes --------------------------------------------------------------------------------------

_SIZE = re.compile(r"^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_BINARY = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


def ram_in_bytes(s: str) -> int:
    m = _SIZE.match(s)
    if not m or m.group(1).count(".") > 1:
        raise ValueError(f"invalid size: '{s}'")
    size = float(m.group(1))
    unit = (m.group(3) or "").lower()
    return int(size * _BINARY.get(unit, 1))


# --- ports --------------------------------------------------------------------------------------


def _port_range(s: str) -> tuple[int, int]:
    if s == "":
        raise ValueError("empty string specified for ports")
    if "-" not in s:
        p = _uint16(s)
        return p, p
    a, _, b = s.partition("-")
    start, end = _uint16(a), _uint16(b)
    if end < start:
        raise ValueError(f"invalid range specified for port: {s}")
    return start, end


def _uint16(s: str) -> int:
    if not s.isdigit() or not s.isascii():
        raise ValueError(f"invalid port: {s}")
    v = int(s)
    if v > 65535:
        raise ValueError(f"invalid port: {s}")
    return v


def parse_port_spec(raw: str) -> list[tuple[str, int, str, str]]:
    """nat.ParsePortSpec → [(ip, container port, proto, host port)], host port may be "a-b" or ""."""
    parts = raw.split(":")
    n = len(parts)
    container = parts[-1]
    if n == 1:
        ip, host = "", ""
    elif n == 2:
        ip, host = "", parts[0]
    elif n == 3:
        ip, host = parts[0], parts[1]
    else:
        ip, host = ":".join(parts[: n - 2]), parts[n - 2]
    proto = "tcp"
    if "/" in container:
        container, _, proto = container.partition("/")
        if proto == "":
            raise ValueError(f"invalid proto: {proto}")
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ValueError(f"invalid IP address: {ip}") from None
    if container == "":
        raise ValueError(f"no port specified: {raw}<empty>")
    try:
        start, end = _port_range(container)
    except ValueError:
        raise ValueError(f"invalid containerPort: {container}") from None
    hstart = hend = 0
    if host:
        try:
            hstart, hend = _port_range(host)
        except ValueError:
            raise ValueError(f"invalid hostPort: {host}") from None
    if host and (end - start) != (hend - hstart) and end != start:
        raise ValueError(f"invalid ranges specified for container and host Ports: {container} and {host}")
    proto = proto.lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise ValueError(f"invalid proto: {proto}")
    out = []
    for i in range(end - start + 1):
        hp = str(hstart + i) if host else ""
        if start == end and hstart != hend:
            hp = f"{hp}-{hend}"
        out.append((ip, start + i, proto, hp))
    return out


def port_configs(raw: str) -> list[JSONDict]:
    """A short-syntax port as docker's long form, in docker's order (ports sorted as strings)."""
    specs = parse_port_spec(raw)
    by_key: dict[str, list[tuple[int, str, str]]] = {}
    for _ip, port, proto, host in specs:
        by_key.setdefault(f"{port}/{proto}", []).append((port, proto, host))
    out: list[JSONDict] = []
    for key in sorted(by_key):
        for port, proto, host in by_key[key]:
            try:
                hs, he = _port_range(host)
            except ValueError:
                if host != "":
                    raise ValueError(f"invalid hostport binding ({host}) for port ({port})") from None
                hs = he = 0
            for published in range(hs, he + 1):
                pc: JSONDict = {"mode": "ingress", "target": port, "protocol": proto}
                if published:
                    pc["published"] = published
                if not port:
                    del pc["target"]
                out.append(pc)
    return out


# --- google/shlex ---------------------------------------------------------------------------------


def shlex_split(s: str) -> list[str]:
    """github.com/google/shlex Split: quotes, backslash escapes, '#' comments at token start."""
    out: list[str] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in " \t\r\n":
            i += 1
            continue
        if c == "#":
            while i < n and s[i] not in "\r\n":
                i += 1
            continue
        tok: list[str] = []
        while i < n:
            c = s[i]
            if c in " \t\r\n":
                break
            if c == "\\":
                if i + 1 >= n:
                    raise ValueError("EOF found after escape character")
                tok.append(s[i + 1])
                i += 2
            elif c == "'":
                j = s.find("'", i + 1)
                if j < 0:
                    raise ValueError("EOF found when expecting closing quote")
                tok.append(s[i + 1 : j])
                i = j + 1
            elif c == '"':
                i += 1
                while True:
                    if i >= n:
                        raise ValueError("EOF found when expecting closing quote")
                    c = s[i]
                    if c == '"':
                        i += 1
                        break
                    if c == "\\":
                        if i + 1 >= n:
                            raise ValueError("EOF found when expecting closing quote")
                        tok.append(s[i + 1])
                        i += 2
                        continue
                    tok.append(c)
                    i += 1
            else:
                tok.append(c)
                i += 1
        out.append("".join(tok))
    return out


# --- volumes ------------------------------------------------------------------------------------

_PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")


def _is_drive(buf: str, c: str) -> bool:
    return c == ":" and len(buf) == 1 and buf.isalpha()


def parse_volume(spec: str) -> JSONDict:
    """volumespec.Parse: ``[source:]target[:mode]`` → long syntax (without zero fields)."""
    if spec == "":
        raise ValueError("invalid empty volume spec")
    if len(spec) <= 2:
        return {"type": "volume", "target": spec}
    vol: JSONDict = {}
    buf = ""
    for c in spec + "\0":
        if _is_drive(buf, c):
            buf += c
        elif c == ":" or c == "\0":
            if buf == "":
                raise ValueError(f"invalid spec: {spec}: empty section between colons")
            if "source" not in vol and c == "\0":
                vol["target"] = buf
            elif "source" not in vol:
                vol["source"] = buf
            elif "target" not in vol:
                vol["target"] = buf
            elif c == ":":
                raise ValueError(f"invalid spec: {spec}: too many colons")
            else:
                for opt in buf.split(","):
                    if opt == "ro":
                        vol["read_only"] = True
                    elif opt == "rw":
                        vol.pop("read_only", None)
                    elif opt == "nocopy":
                        vol["volume"] = {"nocopy": True}
                    elif opt in _PROPAGATIONS:
                        vol["bind"] = {"propagation": opt}
            buf = ""
        else:
            buf += c
    source = vol.get("source")
    src = source if isinstance(source, str) else ""
    if not src:
        vol["type"] = "volume"
    elif src[0] in "./~" or (len(src) > 1 and (src.startswith("\\\\") or _is_drive(src[0], src[1]))):
        vol["type"] = "bind"
    else:
        vol["type"] = "volume"
    return vol
