"""python -m crmcom_simulator: serve a scenario until SIGINT/SIGTERM."""

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from .model import ScenarioError
from .simulator import Simulator


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m crmcom_simulator",
        description="Serve a simulated CRM.COM Rewards Web API v2 on loopback.",
    )
    parser.add_argument(
        "--scenario",
        default="test",
        help="scenario JSON file, or a bundled one: 'test' (default) or 'demo'",
    )
    parser.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--port-file", help="write the port number to this file once listening")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--seed", type=int, default=0, help="seed for random faults")
    return parser.parse_args(argv)


def write_port_file(path, port):
    # write then rename, so a reader never sees a half-written file
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(f"{port}\n", encoding="utf-8")
    os.replace(partial, target)


def main(argv=None):
    args = parse_args(argv)
    try:
        simulator = Simulator(args.scenario, seed=args.seed, latency=args.latency)
    except ScenarioError as exc:
        # A command: it tells its caller on stdout / stderr.
        print(f"crmcom_simulator: {exc}", file=sys.stderr)  # pylint: disable=print-used
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    simulator.start(host=args.host, port=args.port)
    try:
        if args.port_file:
            write_port_file(args.port_file, simulator.port)
        print(  # pylint: disable=print-used
            f"CRM.COM simulator listening on {simulator.base_url}", flush=True
        )
        while not stop.wait(0.5):
            pass
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
