"""Benchmarks of disclosure-inbox against real servers: ``python -m bench`` (see README.md here).

Everything runs on this machine: a private Dovecot, an SMTP sink, SQLite files and PostgreSQL
databases of the benchmark's own, and mail generated from a seed, so that two runs with the
same arguments measure the same work.
"""
