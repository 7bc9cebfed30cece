"""Real servers for the test suite, the bundled demo and the benchmarks.

- `disclosure_inbox.testing.dovecot`: a private Dovecot IMAP server (`DovecotServer`) with
  its own configuration, users and maildirs, plus `ImapAccount`, the client-side helpers
  that load mail into it and read flags back.
- `disclosure_inbox.testing.smtp_sink`: an aiosmtpd server (`SmtpSink`) that keeps every
  message it accepts and can answer the next messages with a chosen 4xx or 5xx reply.
- `disclosure_inbox.testing.mailgen`: deterministic, realistic inbound mail to load into
  the server.
- `disclosure_inbox.testing.openpgp_keys`: throwaway OpenPGP keys made by gpg, each in a
  GnuPG home of its own (`ThrowawayKeys`), and copies of those homes for one test.

Nothing is re-exported here, so importing one helper does not import the other's
dependencies (aiosmtpd is only in the `test` extra).
"""
