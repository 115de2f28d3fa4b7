"""Noisy composite-intent queries over the KB, with their gold intents and references.
Introduced in ``notebooks/medaide/01_data.ipynb``.

A query names one disease (by name, acronym, drug or, in the pre-diagnosis benchmark, by symptoms),
asks 1-3 intents in clauses joined by connectors, is wrapped in colloquial openers and closers, and
each token is corrupted with probability ``noise`` (an abbreviation or a typo).

Honesty guard (``docs/papers/medaide.md``): the rewriting rules know lexicon ``A`` only. Training and validation queries
use template family ``A``, lexicon ``A`` and typo operations ``A`` (drop, double a letter); test queries
use a held-out template family ``B``, a held-out abbreviation lexicon ``B`` and other typo operations
(swap, keyboard neighbour) that no rule has seen. The generator never writes the intent or the
disease into the text other than through these surface forms.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from repro.medaide.kb import AGENT_OF, AGENTS, INTENTS, KB

TEMPLATES: dict[str, dict[str, tuple[str, ...]]] = {
    "A": {
        "department": (
            "which department should i visit for {x}",
            "what kind of specialist treats {x}",
            "where in the hospital do i go with {x}",
        ),
        "symptom_analysis": (
            "what symptoms does {x} cause",
            "are my symptoms typical of {x}",
            "how does {x} usually show up",
        ),
        "etiology": ("what causes {x}", "why do people get {x}", "what is the reason behind {x}"),
        "health_inquiry": (
            "how can i stay healthy with {x}",
            "what should i watch out for with {x}",
            "any general health tips for {x}",
        ),
        "test_interpretation": (
            "what does the test result mean for {x}",
            "how do i read my scan for {x}",
            "what would the lab show with {x}",
        ),
        "differential": (
            "how is {x} told apart from similar diseases",
            "could {x} be confused with something else",
            "what looks like {x} but is different",
        ),
        "severity": ("how serious is {x}", "when does {x} become dangerous", "is {x} an emergency"),
        "test_recommendation": ("which tests confirm {x}", "what exams do i need for {x}", "how is {x} diagnosed"),
        "drug_counseling": (
            "which medicine treats {x}",
            "what drug is given for {x}",
            "what medication should i take for {x}",
        ),
        "dosage": ("what dose should i take for {x}", "how many mg for {x}", "how often do i take the pills for {x}"),
        "contraindication": (
            "who should not take the medicine for {x}",
            "is the drug for {x} safe when pregnant",
            "when must i avoid the medication for {x}",
        ),
        "interaction": (
            "does the medicine for {x} mix with my other drugs",
            "can i combine the drug for {x} with aspirin",
            "any drug interactions with the treatment of {x}",
        ),
        "side_effect": (
            "what side effects does the medicine for {x} have",
            "will the drug for {x} make me feel sick",
            "what are the adverse effects of the pills for {x}",
        ),
        "rehabilitation": ("how do i recover from {x}", "what exercises help after {x}", "what rehab is good for {x}"),
        "follow_up": (
            "when is my follow up for {x}",
            "how soon should i see the doctor again about {x}",
            "when do i get checked again after {x}",
        ),
        "lifestyle": (
            "what diet is best with {x}",
            "should i change my eating habits for {x}",
            "what lifestyle changes help {x}",
        ),
        "care_support": (
            "how can i care for my dad with {x}",
            "what can family do to help with {x}",
            "tips for looking after someone with {x}",
        ),
    },
    "B": {
        "department": (
            "which clinic handles {x}",
            "who do i book an appointment with for {x}",
            "what ward deals with {x}",
        ),
        "symptom_analysis": (
            "what signs point to {x}",
            "what do people with {x} feel",
            "what are the warning signs of {x}",
        ),
        "etiology": ("where does {x} come from", "what triggers {x}", "how does someone end up with {x}"),
        "health_inquiry": (
            "how do i keep well living with {x}",
            "what early signals of {x} should i notice",
            "how to look after my health with {x}",
        ),
        "test_interpretation": (
            "explain my lab findings for {x}",
            "what did the imaging show in {x}",
            "what do the results usually look like in {x}",
        ),
        "differential": (
            "how do doctors distinguish {x} from look-alike conditions",
            "can {x} be mistaken for another illness",
            "what other condition resembles {x}",
        ),
        "severity": ("is {x} life threatening", "at what point is {x} critical", "how bad can {x} get"),
        "test_recommendation": (
            "what investigations are needed to prove {x}",
            "which screening identifies {x}",
            "what scans should be ordered for {x}",
        ),
        "drug_counseling": (
            "what is prescribed for {x}",
            "which pharmaceutical is used against {x}",
            "what tablets are recommended for {x}",
        ),
        "dosage": (
            "how much of the prescription for {x} per day",
            "what amount of the tablets for {x}",
            "how frequently is the remedy for {x} taken",
        ),
        "contraindication": (
            "in which cases is the treatment for {x} forbidden",
            "who must never use the remedy for {x}",
            "is the prescription for {x} unsafe for some patients",
        ),
        "interaction": (
            "is it ok to take the remedy for {x} alongside other prescriptions",
            "will the tablets for {x} clash with my blood thinner",
            "does the treatment for {x} react with other pills",
        ),
        "side_effect": (
            "what unwanted reactions come with the tablets for {x}",
            "does the remedy for {x} have downsides",
            "what complications can the prescription for {x} bring",
        ),
        "rehabilitation": (
            "what physiotherapy suits {x}",
            "how do i regain strength after {x}",
            "what helps healing from {x}",
        ),
        "follow_up": (
            "when should the next check-up for {x} be",
            "how long until a review appointment for {x}",
            "when do i return to the clinic after {x}",
        ),
        "lifestyle": (
            "what daily habits are recommended with {x}",
            "what foods should i prefer with {x}",
            "how should i adjust my routine for {x}",
        ),
        "care_support": (
            "how do carers support someone who has {x}",
            "what can i do for a relative with {x}",
            "how to help my partner manage {x}",
        ),
    },
}
CONNECTORS = {"A": (" and ", ", also ", "; ", ". also "), "B": (" and ", " plus ", ", besides that ", " - also ")}
OPENERS = {"A": ("", "hi, ", "hello doctor, ", "quick question: "), "B": ("", "hey doc ", "so um ", "ok so ")}
CLOSERS = {"A": ("", " thanks", " please"), "B": ("", " thx a lot", " asap")}
PRONOUNS = ("it", "this", "that condition")
# abbreviations: lexicon A is what the rewriting rules know; lexicon B is held out for the test split
LEXICON = {
    "A": {
        "doctor": "dr",
        "medication": "meds",
        "medicine": "med",
        "please": "pls",
        "you": "u",
        "department": "dept",
        "symptoms": "symps",
        "exercises": "exs",
        "should": "shld",
        "what": "wat",
    },
    "B": {
        "prescription": "rx",
        "treatment": "tx",
        "tablets": "tabs",
        "appointment": "appt",
        "review": "rvw",
        "physiotherapy": "physio",
        "recommended": "recd",
        "investigations": "ix",
        "condition": "cond",
        "results": "res",
    },
}
KEYBOARD = dict(zip("qwertyuiopasdfghjklzxcvbnm", "wertyuiopqsdfghjkalxcvbnmz"))  # a right-hand neighbour


@dataclass(frozen=True)
class Query:
    text: str
    clauses: tuple[str, ...]  # the noisy clause texts (training uses them to fit the prototypes)
    clause_intents: tuple[str, ...]
    intents: tuple[str, ...]  # gold intents, in INTENTS order
    disease: int
    benchmark: str
    mention: str  # name | acronym | drug | symptoms
    reference: str  # the KB fact sentences of (disease, intent), in the order the query asks them
    gold_facts: tuple[int, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def corrupt(text: str, noise: float, family: str, rng: np.random.Generator) -> str:
    """Each token, with probability ``noise``: its abbreviation when the family's lexicon has one,
    otherwise (words of 4+ letters) a typo made with the family's operations."""
    out = []
    for token in text.split(" "):
        if token and rng.random() < noise:
            if token in LEXICON[family]:
                token = LEXICON[family][token]
            elif len(token) >= 4 and token.isalpha():
                token = typo(token, family, rng)
        out.append(token)
    return " ".join(out)


def typo(word: str, family: str, rng: np.random.Generator) -> str:
    """Family A drops or doubles a letter; family B swaps two letters or hits a neighbouring key.
    The first letter is kept (as in most real typos)."""
    i = int(rng.integers(1, len(word) - 1))
    if family == "A":
        return word[:i] + word[i + 1 :] if rng.random() < 0.5 else word[:i] + word[i] + word[i:]
    if rng.random() < 0.5:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + KEYBOARD.get(word[i], word[i]) + word[i + 1 :]


def sample_intents(benchmark: str, max_intents: int, rng: np.random.Generator) -> list[str]:
    """1..max_intents distinct intents; the first from the benchmark's agent, each further one from the
    same agent with probability 0.6, else from any agent (composite queries cross agents)."""
    k = int(rng.choice(np.arange(1, max_intents + 1), p=_count_probs(max_intents)))
    own = list(AGENTS[benchmark])
    chosen = [own[int(rng.integers(len(own)))]]
    while len(chosen) < k:
        pool = own if rng.random() < 0.6 else list(INTENTS)
        candidate = pool[int(rng.integers(len(pool)))]
        if candidate not in chosen:
            chosen.append(candidate)
    return chosen


def _count_probs(max_intents: int) -> np.ndarray:
    weights = np.array([0.3, 0.45, 0.25, 0.1, 0.05][:max_intents])
    return weights / weights.sum()


def mention_of(kb: KB, disease: int, first_intent: str, benchmark: str, rng: np.random.Generator) -> tuple[str, str]:
    """How the query names its disease: symptoms (half of the pre-diagnosis queries), the drug (half
    of the medicament-led queries), the acronym (one in five), else the name."""
    d = kb.diseases[disease]
    if benchmark == "pre_diagnosis" and rng.random() < 0.5:
        s = rng.choice(d.symptoms, 2, replace=False)
        return "symptoms", f"{s[0]} with {s[1]}"
    if AGENT_OF[first_intent] == "medicament" and rng.random() < 0.5:
        return "drug", d.drug
    if rng.random() < 0.2:
        return "acronym", d.acronym
    return "name", d.name


def make_query(
    kb: KB,
    benchmark: str,
    family: str,
    noise: float,
    rng: np.random.Generator,
    noise_rng: np.random.Generator,
    max_intents: int = 3,
    intents: list[str] | None = None,
) -> Query:
    """One query. ``rng`` draws its structure (disease, intents, templates, wording) and ``noise_rng``
    its corruption, so the same seed at another noise level gives the same queries, noised
    differently (the noise sweep is paired)."""
    disease = int(rng.integers(len(kb.diseases)))
    intents = intents or sample_intents(benchmark, max_intents, rng)
    mention, x = mention_of(kb, disease, intents[0], benchmark, rng)
    clauses = []
    for k, intent in enumerate(intents):
        options = TEMPLATES[family][intent]
        template = options[int(rng.integers(len(options)))]
        subject = x if k == 0 else PRONOUNS[int(rng.integers(len(PRONOUNS)))]
        clauses.append(corrupt(template.format(x=subject), noise, family, noise_rng))
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
    body = clauses[0]
    for clause in clauses[1:]:
        body += pick(CONNECTORS[family]) + clause
    text = pick(OPENERS[family]) + body + pick(CLOSERS[family]) + "?"
    gold = sorted(intents, key=INTENTS.index)
    facts = tuple(kb.fact_index(disease, i) for i in intents)  # answer in the order asked
    return Query(
        text=text,
        clauses=tuple(clauses),
        clause_intents=tuple(intents),
        intents=tuple(gold),
        disease=disease,
        benchmark=benchmark,
        mention=mention,
        reference=" ".join(kb.facts[f] for f in facts),
        gold_facts=facts,
    )


def make_split(kb: KB, n_per_benchmark: int, family: str, noise: float, seed: int, max_intents: int = 3) -> list[Query]:
    """``n_per_benchmark`` queries for each of the four benchmarks (structure seeded by ``seed``,
    corruption by ``seed`` too but from its own stream)."""
    rng, noise_rng = np.random.default_rng([seed, 0]), np.random.default_rng([seed, 1])
    return [
        make_query(kb, b, family, noise, rng, noise_rng, max_intents) for b in AGENTS for _ in range(n_per_benchmark)
    ]
