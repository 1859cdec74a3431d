"""The test suite. Imported before any test module, so this runs first."""

import os

# One BLAS thread, as in the workers: on a small machine that also runs the
# services and their workers, BLAS threads only contend (5x slower here).
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
