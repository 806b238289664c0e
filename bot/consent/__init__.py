"""Consent (Art. 6, 7, 9 GDPR), the intake that precedes it, and the rights of Art. 15 and 17.

No Matrix code here: the flow takes plain values and returns effects that the runtime
(``bot/consent/runtime.py``) carries out against the homeserver and the store.
"""
