"""`python -m bench NAME [--size N]`: run one benchmark, print figures, end on one JSON line."""

import argparse
import importlib
import inspect
import json
import os
import sys

BENCHMARKS = {
    "import": "bench.imports",
    "messaging": "bench.messaging",
    "selection": "bench.selection",
    "giftsite": "bench.giftsite",
    "dashboard": "bench.dashboard",
    "callqueue": "bench.callqueue",
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("name", choices=sorted(BENCHMARKS))
    parser.add_argument("--size", type=int, default=None, help="scale the benchmark")
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="repeat the measurement, the median round decides (import only)",
    )
    args = parser.parse_args(argv)
    options = {"rounds": args.rounds} if args.rounds else {}
    if (
        options
        and "rounds"
        not in inspect.signature(
            importlib.import_module(BENCHMARKS[args.name]).run
        ).parameters
    ):
        parser.error(f"--rounds is not an option of the {args.name} benchmark")

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")
    from bench import common

    common.setup_django()
    module = importlib.import_module(BENCHMARKS[args.name])
    result = module.run(size=args.size, **options)
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
