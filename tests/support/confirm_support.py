"""A school where a consenting pupil's face is blurred until the DSL confirms it: Ada (P001) and
Ben (P002) both consent and have biometric consent; Ada is enrolled from ada-2 only, Ben from
ben-1. Ada's face in samples/photos/assembly.jpg lies 0.43 from ada-2 and 0.07 from visit.jpg's:
with the clearing tolerance at 0.40 it is blurred, and once assembly's face is one of her
references, visit.jpg's is cleared."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from support.helpers import accept_settings, new_home, open_store

SETTINGS = "spot_check_rate = 0.0\nclear_tolerance = 0.4\ndistinct_tolerance = 0.4\n"


def school(root: Path, encodings: dict):
    home = new_home(root)
    Path(home.config_file).write_text(SETTINGS)
    store = open_store(home)
    accept_settings(home, store)
    today = dt.date.today()
    store.add_pupil("P001", "Ada Example", consents={"social": True, "website": True},
                    biometric_consent=True, actor="test")
    store.add_pupil("P002", "Ben Example", consents={"social": True, "website": True},
                    biometric_consent=True, actor="test")
    store.enrol("P001", [encodings["ada"][1]], [today], actor="test")
    store.enrol("P002", encodings["ben"], [today], actor="test")
    return home
