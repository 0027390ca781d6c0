"""Bridges to other evaluation harnesses.

``lmms_eval``
    PortraitCraft Track 1 as an lmms-eval task (the reference prompt, our parser, our scorer), and the files that
    point lmms-eval at a dataset exported with ``portraitcraft export --to hf``.
"""
