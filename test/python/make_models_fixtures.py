"""Reference fixtures for the models tests: tiny random models in the exact
diffusers / transformers layouts and their outputs, made by the Python
libraries themselves. Each fixtures_<name>.py beside this file exposes
make(out_dir); this runs every one into <out_dir>/<name>.

Usage: python make_models_fixtures.py OUT_DIR
"""
import importlib
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for script in sorted(HERE.glob("fixtures_*.py")):
        name = script.stem[len("fixtures_"):]
        target = out / name
        stamp = target / ".complete"
        # Regenerate only when the generator changed since the last run.
        if stamp.exists() and stamp.stat().st_mtime >= script.stat().st_mtime:
            continue
        target.mkdir(parents=True, exist_ok=True)
        importlib.import_module(script.stem).make(str(target))
        stamp.touch()
        print(f"fixtures: {name} -> {target}")


if __name__ == "__main__":
    main()
