"""`make sandbox`: TimeHub with every provider replaced by the fake the tests use
(tests/fakes/), on loopback, reached through the same endpoint settings an operator
would set for a proxy or a self-hosted install, and demo data to click through.

build.py puts it together (a test can call it), __main__.py serves it until Ctrl-C.
"""
