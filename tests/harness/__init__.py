"""What the tests share: a private PostgreSQL and its databases, Chromium through Playwright
and served processes, the README's pictures, and independent references (M4, the
statistics' SQL, the CSV) that results are checked against."""
