#!/usr/bin/env python
"""STAND-IN for qbank-gstudio-scripts' single_school_get_MIT_activity_data.py (test fleet only):
writes /data/qbank/student-activities/activity-data.csv with clix-derive."""
import subprocess
import sys

sys.exit(subprocess.call([sys.executable, "/home/docker/code/gstudio/gnowsys-ndf/manage.py", "mit_activity_data"]))
