"""The teleradiology practice around the reports.

    facilities.py   facilities (time zones, turnaround limits, routes) and the reader's licences
    review.py       peer review sampling and RADPEER scores
    stats.py        turnaround, critical-result communication, dictation and review figures
"""
