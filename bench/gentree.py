#!/usr/bin/env python3
"""gentree.py ROOT NDIRS PER_DIR: the plugin tree of part 5.

Creates ROOT/dNNNNN/fNN.py for NDIRS directories of PER_DIR small files
each (distinct contents of about 200 bytes), and prints nothing. Signing is
done afterwards with `sigward sign` (run.sh), many files per call.
"""
import os
import sys


def main() -> None:
    root, ndirs, per_dir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.makedirs(root, exist_ok=True)
    pad = "#" * 120
    for d in range(ndirs):
        sub = os.path.join(root, f"d{d:05d}")
        os.mkdir(sub)
        for f in range(per_dir):
            with open(os.path.join(sub, f"f{f:02d}.py"), "w", encoding="ascii") as out:
                out.write(f"# benchmark plugin {d}/{f}\nVALUE = {d * per_dir + f}\n{pad}\n")


if __name__ == "__main__":
    main()
