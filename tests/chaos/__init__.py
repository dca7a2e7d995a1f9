"""Failure-injection tests: killed workers, signals, Redis restarts, poison input, fencing."""
