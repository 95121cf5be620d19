"""Names and limits shared by the watcher's parts."""

from __future__ import annotations

import logging

log = logging.getLogger("safeguard.watch")

STATUS_FILE = "_safeguard-status.txt"
# Names that are still being written (browsers, Office, rsync, our own temp files) or that belong
# to the system: never taken, until renamed to a real name.
PARTIAL_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".tmp", ".temp", ".filepart")
SYSTEM_NAMES = {"thumbs.db", "ehthumbs.db", "desktop.ini", STATUS_FILE.lower()}
WITHHELD = "a photo (name withheld: it contained a pupil's name)"
MAX_FAILURES = 3  # a photo whose worker dies this many times is rejected, not retried forever
RETRY_SECONDS = 30.0  # a commit that failed (ready folder unreachable, disk full) is retried
STATUS_MAX_BYTES = 512 * 1024
# Decisions after which the same photo may be dropped in again and is processed afresh (not a
# duplicate): nothing of it was published, and a better caption or crop may follow.
SEND_AGAIN = ("rejected", "declined")
