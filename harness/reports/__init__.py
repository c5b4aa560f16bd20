"""Report writers: results.json, checklist.md, junit.xml, report.html."""
