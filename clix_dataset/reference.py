"""The research team's public maps, as reference tables of ``clix.duckdb`` (written as they are in
their sources, so an analysis joins them instead of copying them).

- module to domain, tool to domain: clix_dashboard_backend_AF
  ``dags/scripts/clix_platform_data_processing/get_metrics.py`` (``modules_domain_map``,
  ``tools_domain_map``; the modules by their progress-CSV ``module_name``, here as the name itself);
- tool to module: the same repository's ``get_data.py`` / ``modules_proc.py`` (``tool_mod_map``);
- unit to unit code: CLIxResearchDataProcessing
  ``PlatformDataUsageMetricsExtraction_Apr18toMar19/ModuleData_Extraction/progresscsv_collation.py``
  (``UNITNAMES``; the unit by its progress-CSV file name slug).
"""

from __future__ import annotations

from dataclasses import dataclass

DOMAINS = {"e": "English", "m": "Mathematics", "s": "Science"}
MODULE_DOMAIN = {
    "e": ["English Beginner", "English Elementary", "i2C"],
    "m": ["Geometric Reasoning Part I", "Geometric Reasoning Part II", "Linear Equations", "Proportional Reasoning"],
    "s": ["Atomic Structure", "Sound", "Understanding Motion", "Basic Astronomy", "Health and Disease", "Ecosystem",
          "Reflecting on Values"],
}
TOOL_DOMAIN = {
    "e": [],
    "m": ["ice", "factorisation", "coins_puzzle", "rationpatterns", "food_sharing_tool", "ages_puzzle", "policesquad"],
    "s": ["astroamer_element_hunt_activity", "astroamer_moon_track", "astroamer_planet_trek_activity"],
}
TOOL_MODULE = {
    "ice": ["Proportional Reasoning"], "astroamer_element_hunt_activity": ["Basic Astronomy"],
    "policesquad": ["Geometric Reasoning Part I", "Geometric Reasoning Part II"],
    "astroamer_moon_track": ["Basic Astronomy"], "food_sharing_tool": ["Proportional Reasoning"],
    "astroamer_planet_trek_activity": ["Basic Astronomy"], "ages_puzzle": ["Linear Equations"],
    "coins_puzzle": ["Linear Equations"], "factorisation": ["Linear Equations"],
    "rationpatterns": ["Proportional Reasoning"],
}
UNIT_CODE = {
    "eb-unit0-english-beginner": "11", "eb-unit1-english-beginner": "12", "ee-unit1-english-elementary": "13",
    "ee-unit2-english-elementary": "14", "gr1-unit1-concept-of-shape": "211",
    "gr1-unit2-analysing-describing-shapes": "212", "gr1-unit3-classifying-defining-shapes": "213",
    "gr2-unit1-property-based-reasoning": "221", "gr2-unit2-understanding-need-for-proof": "222",
    "pr-unit1-additive-to-multiplicative-thinking": "231", "pr-uni2-multiplicative-thinking": "232",
    "pr-unit3-ratios-proportions": "233", "pr-unit4-applications": "234", "le-unit1-making-solving-puzzles": "241",
    "le-unit2-exploring-telephone-tariffs": "242", "le-unit3-measuring-mustard-seed": "243",
    "le-unit4-finding-postal-charges": "244", "atom-in-chemistry": "30", "ast-unit1-earth": "31",
    "ast-unit2-moon": "32", "ast-unit3-solar-system": "33", "ecosystem": "34", "health-and-disease": "35",
    "sound": "36", "um-physics-motion": "37", "reflecting-on-values": "40", "pre-clix-survey": "50",
    "post-clix-survey": "51",
}
DASHBOARD = "CLIxIndia-Dev/clix_dashboard_backend_AF `dags/scripts/clix_platform_data_processing/"
COLLATION = ("CLIxIndia-Dev/CLIxResearchDataProcessing `PlatformDataUsageMetricsExtraction_Apr18toMar19/"
             "ModuleData_Extraction/progresscsv_collation.py` UNITNAMES")


@dataclass(frozen=True)
class Reference:
    name: str
    about: str
    columns: tuple[tuple[str, str], ...]  # (name, meaning); all VARCHAR
    rows: tuple[tuple[str, ...], ...]


REFERENCES: tuple[Reference, ...] = (
    Reference("ref_module_domain", f"Module to domain, from {DASHBOARD}get_metrics.py` modules_domain_map.",
              (("module_name", "Module, as in units.module_names and progress.module_names."),
               ("domain_code", "e, m or s."), ("domain", "English, Mathematics or Science.")),
              tuple((m, code, DOMAINS[code]) for code, modules in MODULE_DOMAIN.items() for m in modules)),
    Reference("ref_tool_domain", f"Tool to domain, from {DASHBOARD}get_metrics.py` tools_domain_map.",
              (("tool_family", "Tool, as in tool_events.tool_family."), ("domain_code", "e, m or s."),
               ("domain", "English, Mathematics or Science.")),
              tuple((t, code, DOMAINS[code]) for code, tools in TOOL_DOMAIN.items() for t in tools)),
    Reference("ref_tool_module", f"Tool to the modules it goes with, from {DASHBOARD}get_data.py` tool_mod_map.",
              (("tool_family", "Tool, as in tool_events.tool_family."), ("module_name", "Module.")),
              tuple((t, m) for t, modules in TOOL_MODULE.items() for m in modules)),
    Reference("ref_unit_code", f"Unit to the team's unit code, from {COLLATION}.",
              (("unit_slug", "Unit, as in progress.unit_slug."), ("unit_code", "The team's code.")),
              tuple(UNIT_CODE.items())),
)


def reference_sql() -> list[str]:
    stmts = []
    for ref in REFERENCES:
        cols = ", ".join(f"{name} VARCHAR" for name, _ in ref.columns)
        stmts.append(f"CREATE OR REPLACE TABLE {ref.name} ({cols})")
        values = ", ".join("(" + ", ".join("'" + v.replace("'", "''") + "'" for v in row) + ")" for row in ref.rows)
        stmts.append(f"INSERT INTO {ref.name} VALUES {values}")
    return stmts
