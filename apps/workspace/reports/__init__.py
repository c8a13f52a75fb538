"""Reports: one document per application or tenant (posture, SLA, exceptions, decisions and
their evidence), assembled as plain data by `document.py` and written as HTML, CSV or PDF
by `formats.py` (docs/workspace.md, "Reports")."""
