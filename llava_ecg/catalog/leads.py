"""Lead names: the 12 standard leads in standard order, their groups, and the spellings sources use."""
from __future__ import annotations

STANDARD_LEADS: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)
LIMB_LEADS = STANDARD_LEADS[:6]
CHEST_LEADS = STANDARD_LEADS[6:]

# Sources spell leads ``AVR`` (PTB-XL), ``avr``/``i`` (PTB DB), ``DI``/``DII`` (CODE-15%, Brazilian usage);
# keys are lower-case with single spaces. ``-aVR`` (Cabrera display) is not aVR: never silently map it.
LEAD_ALIASES: dict[str, str | None] = {name.lower(): name for name in STANDARD_LEADS}
LEAD_ALIASES.update({"di": "I", "dii": "II", "diii": "III", "lead i": "I", "lead ii": "II", "lead iii": "III",
                     "-avr": None})
