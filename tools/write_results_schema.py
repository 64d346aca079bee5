"""Write quantgate/schemas/results.schema.json from the results model (quantgate.results.model).

python tools/write_results_schema.py
"""

import json
from pathlib import Path

from quantgate.results.model import results_schema

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "quantgate" / "schemas" / "results.schema.json"


def schema_text() -> str:
    return json.dumps(results_schema(), indent=1, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(schema_text(), encoding="utf-8")
    print(SCHEMA_FILE)
