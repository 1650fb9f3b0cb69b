"""The project's own evaluation material in tests/data, read the same way by tests and benchmarks.

The development set of dictations (devset.toml: spoken and written form), the labelled sentences
for the clinical checks, and a typical report. Benchmarks import these; tests never import a
benchmark.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"


@dataclass
class Dictation:
    id: str
    group: str
    spoken: str
    written: str


def load_devset() -> list[Dictation]:
    data = tomllib.loads((DATA / "devset.toml").read_text(encoding="utf-8"))
    return [Dictation(**d) for d in data["dictation"]]


@dataclass(frozen=True)
class Sentence:
    label: str
    findings: list[str]
    text: str


def sentences_path(name: str = "critical_sentences.tsv") -> Path:
    return DATA / "checks" / name


def load_sentences(path: Path | None = None) -> list[Sentence]:
    path = path or sentences_path()
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    out = []
    for row in rows[1:]:
        label, findings, text = row.split("\t")
        out.append(Sentence(label, [] if findings == "-" else findings.split(";"), text))
    return out


def sentence_document(s: Sentence) -> str:
    if s.label == "indication":
        return f"INDICATION: {s.text}\n\nFINDINGS: Unremarkable.\n\nIMPRESSION: Unremarkable.\n"
    return f"FINDINGS: {s.text}\n\nIMPRESSION: See above.\n"


TYPICAL_REPORT = """EXAMINATION: CT Chest with contrast

INDICATION: Shortness of breath and pleuritic chest pain. Evaluate for pulmonary embolism.

TECHNIQUE: Axial CT images of the chest were obtained after intravenous contrast in the pulmonary arterial phase.

COMPARISON: Chest radiograph from yesterday.

FINDINGS:
Pulmonary arteries: Filling defects in the right lower lobe segmental and subsegmental pulmonary arteries consistent with acute pulmonary embolism. The main pulmonary artery is normal in caliber. RV to LV ratio is 0.8.
Lungs: A 6 x 4 mm solid nodule in the right upper lobe. Mild dependent atelectasis. No consolidation.
Pleura: Small right pleural effusion. No pneumothorax.
Heart and mediastinum: Heart size is normal. No pericardial effusion. No mediastinal lymphadenopathy.
Upper abdomen: The visualized upper abdomen is unremarkable.
Bones: No acute fracture or suspicious osseous lesion.

IMPRESSION:
1. Acute right lower lobe segmental and subsegmental pulmonary embolism without right heart strain.
2. Small right pleural effusion.
3. 5 mm solid right upper lobe nodule.

RECOMMENDATIONS: Follow-up chest CT in 12 months is optional if high risk.
"""
