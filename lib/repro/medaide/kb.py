"""The intent taxonomy and a procedural medical knowledge base (KB).
Introduced in ``notebooks/medaide/01_data.ipynb``.

Taxonomy: 17 fine-grained intents under the paper's four agents. The paper names its four stages
(pre-diagnosis, diagnosis, medicament, post-diagnosis) and 17 intents; the split of intents below is
our own reconstruction (``docs/papers/medaide.md`` says why).

KB: ``n_diseases`` invented diseases (pseudo-names, so nothing here is medical advice), each with a
department, three symptoms, a cause, tests and findings, a drug with dose, contraindication,
interaction and side effect, and aftercare. Every (disease, intent) pair has exactly one fact
sentence; a query's reference answer is made of the fact sentences of its (disease, intent) pairs.
A case base (patient records: symptoms + test finding + diagnosis) serves the diagnosis agent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AGENTS: dict[str, tuple[str, ...]] = {
    "pre_diagnosis": ("department", "symptom_analysis", "etiology", "health_inquiry"),
    "diagnosis": ("test_interpretation", "differential", "severity", "test_recommendation"),
    "medicament": ("drug_counseling", "dosage", "contraindication", "interaction", "side_effect"),
    "post_diagnosis": ("rehabilitation", "follow_up", "lifestyle", "care_support"),
}
INTENTS: tuple[str, ...] = tuple(i for intents in AGENTS.values() for i in intents)
AGENT_OF: dict[str, str] = {i: a for a, intents in AGENTS.items() for i in intents}
BENCHMARKS: tuple[str, ...] = tuple(AGENTS)  # one benchmark per stage, like the paper's four

# vocabularies the generator draws from (invented names; real-sounding organs and symptoms)
_ONSETS = ("var", "kel", "mor", "tal", "dren", "sol", "pax", "lum", "quor", "zen", "brel", "cad", "fen", "gor", "hal")
_CODAS = ("ostr", "ent", "and", "ilm", "ur", "ax", "orb", "im", "el", "uth")
_SUFFIXES = ("osis", "itis", "emia", "algia", "opathy")
_QUALIFIERS = ("chronic", "acute", "recurrent", "juvenile", "hereditary", "seasonal")
_ORGANS = ("renal", "cardiac", "hepatic", "pulmonary", "gastric", "dermal", "neural", "spinal", "ocular", "thyroid")
DEPARTMENTS = (
    "cardiology",
    "nephrology",
    "hepatology",
    "pulmonology",
    "gastroenterology",
    "dermatology",
    "neurology",
    "orthopedics",
    "ophthalmology",
    "endocrinology",
)
SYMPTOMS = (
    "chest tightness",
    "night sweats",
    "joint stiffness",
    "blurred vision",
    "persistent cough",
    "abdominal cramps",
    "skin rash",
    "frequent headaches",
    "ankle swelling",
    "dry mouth",
    "muscle weakness",
    "heart palpitations",
    "low fever",
    "back pain",
    "dizziness",
    "nausea",
    "itchy eyes",
    "shortness of breath",
    "weight loss",
    "tingling hands",
    "fatigue",
    "hoarse voice",
    "excessive thirst",
    "pale skin",
)
CAUSES = (
    "a viral infection",
    "an autoimmune reaction",
    "a bacterial infection",
    "a genetic variant",
    "long-term smoking",
    "a vitamin deficiency",
    "chronic stress",
    "an allergic response",
    "poor circulation",
    "a hormonal imbalance",
)
TESTS = (
    "blood panel",
    "chest x-ray",
    "ultrasound scan",
    "urine analysis",
    "ecg",
    "mri scan",
    "skin biopsy",
    "thyroid panel",
    "liver function test",
    "spirometry",
)
FINDINGS = (
    "raised inflammatory markers",
    "a shadow on the lower lobe",
    "an enlarged organ outline",
    "protein in the sample",
    "an irregular rhythm",
    "a small lesion",
    "abnormal cell clusters",
    "a low hormone level",
    "elevated enzymes",
    "reduced airflow",
)
_DRUG_STEMS = ("zol", "vex", "tran", "mip", "cor", "lan", "dex", "fur", "nol", "rap", "sen", "tib")
_DRUG_ENDS = ("amide", "oprine", "azole", "ifen", "umab", "olol", "astin", "icillin")
FREQUENCIES = ("once daily", "twice daily", "three times daily", "every eight hours", "at bedtime")
CONDITIONS = ("pregnancy", "kidney failure", "liver disease", "a history of ulcers", "low blood pressure", "asthma")
OTHER_DRUGS = ("warfarin", "aspirin", "ibuprofen", "metformin", "lithium", "digoxin", "insulin", "statins")
SIDE_EFFECTS = ("drowsiness", "dry cough", "mild nausea", "hair thinning", "a metallic taste", "sun sensitivity")
EXERCISES = ("gentle walking", "breathing exercises", "light stretching", "water aerobics", "balance training")
WEEKS = ("two", "four", "six", "eight", "twelve")
DIETS = ("a low salt diet", "more fibre", "less alcohol", "regular small meals", "more fluids", "less sugar")
CARE = ("keep a symptom diary", "arrange help with daily chores", "use a pill organiser", "join a patient group")


@dataclass(frozen=True)
class Disease:
    name: str  # e.g. "chronic renal varostrosis"
    acronym: str  # initials of the name, e.g. "crv"
    department: str
    symptoms: tuple[str, str, str]
    cause: str
    test: str
    finding: str
    other_test: str
    drug: str
    dose_mg: int
    frequency: str
    condition: str  # contraindication
    other_drug: str  # interaction
    side_effect: str
    exercise: str
    weeks: str
    diet: str
    care: str
    differential: str  # name of a look-alike disease


def fact_sentences(d: Disease) -> dict[str, str]:
    """One fact sentence per intent: the KB's unit of retrieval and of the references."""
    s1, s2, s3 = d.symptoms
    return {
        "department": f"{d.name} is treated in the {d.department} department.",
        "symptom_analysis": f"{s1}, {s2} and {s3} are the typical symptoms of {d.name}.",
        "etiology": f"{d.name} is usually caused by {d.cause}.",
        "health_inquiry": f"people with {d.name} can stay healthy by watching for {s1} from the start.",
        "test_interpretation": f"in {d.name} the {d.test} typically shows {d.finding}.",
        "differential": f"{d.name} is told apart from {d.differential} by the {d.other_test}.",
        "severity": f"{d.name} becomes serious when {s2} lasts more than a week.",
        "test_recommendation": f"a {d.test} and a {d.other_test} confirm {d.name}.",
        "drug_counseling": f"{d.drug} is the first line medication for {d.name}.",
        "dosage": f"the usual dosage of {d.drug} for {d.name} is {d.dose_mg} mg {d.frequency}.",
        "contraindication": f"{d.drug} must not be used with {d.condition}.",
        "interaction": f"{d.drug} interacts with {d.other_drug}, so the two need spacing.",
        "side_effect": f"a common side effect of {d.drug} is {d.side_effect}.",
        "rehabilitation": f"recovery from {d.name} is helped by {d.exercise}.",
        "follow_up": f"after treatment of {d.name} a follow up visit is due in {d.weeks} weeks.",
        "lifestyle": f"with {d.name} it is advised to follow {d.diet}.",
        "care_support": f"caregivers of people with {d.name} should {d.care}.",
    }


@dataclass(frozen=True)
class KB:
    diseases: tuple[Disease, ...]
    facts: tuple[str, ...]  # (n_diseases * n_intents,) in disease-major, INTENTS order
    fact_disease: np.ndarray  # (n_facts,) int
    fact_intent: np.ndarray  # (n_facts,) int
    cases: tuple[str, ...]  # patient records
    case_disease: np.ndarray  # (n_cases,) int

    def fact(self, disease: int, intent: str) -> str:
        return self.facts[disease * len(INTENTS) + INTENTS.index(intent)]

    def fact_index(self, disease: int, intent: str) -> int:
        return disease * len(INTENTS) + INTENTS.index(intent)

    def profiles(self) -> list[str]:
        """One text per disease naming it, its acronym, drug and symptoms: what key-element
        extraction retrieves against."""
        return [f"{d.name} ({d.acronym}); {d.drug}; {', '.join(d.symptoms)}" for d in self.diseases]

    def vocabulary(self) -> list[str]:
        """Every word of the KB (facts, cases, names): the spelling rule's dictionary."""
        words = {w for text in (*self.facts, *self.cases, *self.profiles()) for w in _words(text)}
        return sorted(words)

    def terms(self) -> list[str]:
        """Multi-word KB terms (disease names, symptoms, tests): what acronyms expand to."""
        terms = {d.name for d in self.diseases} | set(SYMPTOMS) | {t for t in TESTS if " " in t}
        return sorted(terms)


def _words(text: str) -> list[str]:
    import re

    return re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)?", text.lower())


def build_kb(n_diseases: int, cases_per_disease: int, seed: int) -> KB:
    """A seeded KB. Names are unique; the acronym of each name is unique too (acronym expansion
    must be decidable from the KB alone)."""
    rng = np.random.default_rng(seed)
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
    names, acronyms, drugs = [], set(), set()
    while len(names) < n_diseases:
        name = f"{pick(_QUALIFIERS)} {pick(_ORGANS)} {pick(_ONSETS)}{pick(_CODAS)}{pick(_SUFFIXES)}"
        acro = "".join(w[0] for w in name.split())
        if name not in names and acro not in acronyms:
            names.append(name), acronyms.add(acro)
    diseases = []
    for k, name in enumerate(names):
        drug = f"{pick(_DRUG_STEMS)}{pick(_ONSETS)}{pick(_DRUG_ENDS)}"
        while drug in drugs:
            drug = f"{pick(_DRUG_STEMS)}{pick(_ONSETS)}{pick(_DRUG_ENDS)}"
        drugs.add(drug)
        symptoms = tuple(str(s) for s in rng.choice(SYMPTOMS, 3, replace=False))
        tests = rng.choice(len(TESTS), 2, replace=False)
        diseases.append(
            Disease(
                name=name,
                acronym="".join(w[0] for w in name.split()),
                department=pick(DEPARTMENTS),
                symptoms=symptoms,
                cause=pick(CAUSES),
                test=TESTS[tests[0]],
                finding=FINDINGS[tests[0]],
                other_test=TESTS[tests[1]],
                drug=drug,
                dose_mg=int(rng.choice([5, 10, 20, 25, 50, 100, 250, 500])),
                frequency=pick(FREQUENCIES),
                condition=pick(CONDITIONS),
                other_drug=pick(OTHER_DRUGS),
                side_effect=pick(SIDE_EFFECTS),
                exercise=pick(EXERCISES),
                weeks=pick(WEEKS),
                diet=pick(DIETS),
                care=pick(CARE),
                differential=names[(k + 1 + int(rng.integers(n_diseases - 1))) % n_diseases]
                if n_diseases > 1
                else name,
            )
        )
    facts, fd, fi = [], [], []
    for k, d in enumerate(diseases):
        sentences = fact_sentences(d)
        for j, intent in enumerate(INTENTS):
            facts.append(sentences[intent]), fd.append(k), fi.append(j)
    cases, cd = [], []
    for k, d in enumerate(diseases):
        for _ in range(cases_per_disease):
            own = rng.choice(d.symptoms, 2, replace=False)
            extra = pick([s for s in SYMPTOMS if s not in d.symptoms])
            shown = rng.permutation([*own, extra])
            age = int(rng.integers(18, 85))
            cases.append(
                f"patient aged {age} with {shown[0]}, {shown[1]} and {shown[2]}; "
                f"the {d.test} showed {d.finding}. diagnosis: {d.name}."
            )
            cd.append(k)
    return KB(
        diseases=tuple(diseases),
        facts=tuple(facts),
        fact_disease=np.array(fd),
        fact_intent=np.array(fi),
        cases=tuple(cases),
        case_disease=np.array(cd),
    )
