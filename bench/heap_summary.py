"""Summarise heaptrack_print's peak consumers: bytes per socket for each allocation site
(the first frame in a dependency crate or in our core), for sites hit about once per socket
or more."""

import re
import sys
from collections import defaultdict

REGISTRY = re.compile(r"/root/\.cargo/registry/src/[^/]+/")
INTERESTING = ("engineioxide", "socketioxide", "tungstenite", "hyper", "axum", "core/src", "tokio-1")


def parse(path: str) -> list[tuple[float, int, list[str]]]:
    units = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9}
    sites: list[tuple[float, int, list[str]]] = []
    current: tuple[float, int, list[str]] | None = None
    for line in open(path, encoding="utf-8", errors="replace"):
        m = re.search(r"([\d.]+)([KMG]?)B? consumed over (\d+) calls from", line)
        if m and "peak memory" not in line:
            current = (float(m.group(1)) * units[m.group(2)], int(m.group(3)), [])
            sites.append(current)
            continue
        if "peak memory consumed" in line:
            current = None
            continue
        s = line.strip()
        if (
            current is not None
            and s.startswith("at ")
            and "/rustc/" not in s
            and any(k in s for k in INTERESTING)
        ):
            current[2].append(REGISTRY.sub("", s[3:]))
    return sites


def main() -> None:
    path, sockets = sys.argv[1], int(sys.argv[2])
    per_site: dict[str, float] = defaultdict(float)
    for total, calls, frames in parse(path):
        if calls < sockets * 0.45 or not frames:
            continue
        # Name the site by its first non-tokio frame (the code that asked for the memory).
        owner = next((f for f in frames if not f.startswith("tokio-1")), frames[0])
        per_site[owner] += total
    print(f"| allocation site (first frame outside tokio) | bytes per socket (of {sockets}) |")
    print("|---|---|")
    grand = 0.0
    for site, total in sorted(per_site.items(), key=lambda kv: -kv[1]):
        per = total / sockets
        if per < 20:
            continue
        grand += per
        print(f"| `{site}` | {per:,.0f} |")
    print(f"| **total of the sites above** | **{grand:,.0f}** |")


if __name__ == "__main__":
    main()
