"""Outage records (故障单) as people work them: lifecycle, deadlines, timeline, report."""
