"""The programs of a role: each observes, decides (a pure function in decide/) and applies, driven
by one of the two runners in runner.py (supervisor events, or ticks for the loops that must act
within a second). A new program goes here, with its decision in decide/ and its snapshot in model/."""
