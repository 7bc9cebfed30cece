"""Pure domain logic: no I/O, no clock reads. Everything here takes its inputs as arguments."""
