"""Benchmarks of the back-office at scale (issue 8): a bulk data generator, in-process and
gunicorn measurements, the Flask-Admin baseline, and the plot (docs/benchmarks.md)."""
