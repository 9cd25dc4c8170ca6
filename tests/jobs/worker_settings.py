"""Settings for the worker processes the job tests start: the real settings, plus knobs.

- ``CUTOUT_TEST_FAIL_WRITES=1`` makes every write of a cutout's result fail in storage, the way a
  full disk or an S3 outage does (an ``OSError`` on disk, an HTTP 500 ``ClientError`` on S3).
- Retries come quickly (``CUTOUT_ITEM_RETRY_BACKOFF``) so the tests do not wait minutes.
"""

import os

from cutout.settings import *  # noqa: F403
from cutout.settings import STORAGES

# Everything this worker queues (the job's closing task, retries) goes to the test's own queue.
if os.environ.get("CUTOUT_TEST_QUEUE"):
    CELERY_TASK_DEFAULT_QUEUE = os.environ["CUTOUT_TEST_QUEUE"]

CUTOUT_ITEM_MAX_RETRIES = int(os.environ.get("CUTOUT_ITEM_MAX_RETRIES", "2"))
CUTOUT_ITEM_RETRY_BACKOFF = float(os.environ.get("CUTOUT_ITEM_RETRY_BACKOFF", "0.5"))

if os.environ.get("CUTOUT_TEST_FAIL_WRITES"):
    _default = dict(STORAGES["default"])
    _faulty = (
        "tests.jobs.faulty_storage.FaultyS3Storage"
        if _default["BACKEND"].endswith("S3Storage")
        else "tests.jobs.faulty_storage.FaultyFileSystemStorage"
    )
    STORAGES = {**STORAGES, "default": {**_default, "BACKEND": _faulty}}
