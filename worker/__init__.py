"""The Celery worker: the app (`worker.app`) and its one task (`worker.tasks`).

Each pool process trains one job at a time on one core, so BLAS must not
start threads of its own: N processes would otherwise fight over N cores.
This runs before NumPy is first imported in the worker.
"""

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
