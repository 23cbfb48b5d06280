"""Fixed-connection HTTP load with wrk (C, so the client takes little of the CPU it measures).

`scripts/ensure-wrk.sh` (run by `make bench`) installs Debian's wrk; without it the stages that
need it are skipped with a message saying so.
"""

import re
import shutil
import subprocess
from dataclasses import dataclass

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int

    def line(self) -> str:
        errors = f", {self.errors} errors" if self.errors else ""
        return f"{self.requests_per_s:7.0f} req/s, p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms{errors}"


def available() -> bool:
    return shutil.which("wrk") is not None


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"wrk printed a latency this parser does not know: {value!r}")
    number, unit = match.groups()
    return float(number) * _UNITS[unit]


def parse(output: str) -> WrkResult:
    """Reads `wrk --latency` output."""
    rate_line = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if rate_line is None:
        raise ValueError(f"no Requests/sec line in wrk's output:\n{output}")
    rate = float(rate_line.group(1))
    # wrk prints no distribution when no request completed.
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", output, flags=re.MULTILINE))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return WrkResult(
        requests_per_s=rate,
        p50_ms=_ms(percentiles["50"]) if "50" in percentiles else float("nan"),
        p99_ms=_ms(percentiles["99"]) if "99" in percentiles else float("nan"),
        errors=errors + (int(non_2xx.group(1)) if non_2xx else 0),
    )


def run(url: str, *, connections: int, seconds: float, threads: int = 2) -> WrkResult:
    """`connections` keep-alive connections sending back to back for `seconds`."""
    completed = subprocess.run(
        [
            "wrk",
            f"-t{min(threads, connections)}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout",
            "10s",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    return parse(completed.stdout)
