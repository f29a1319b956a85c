"""``faststream docs gen services.catalog.asyncapi:app``"""

from services.catalog.app import DEFINITION
from shared.service import docs_app

app = docs_app(DEFINITION)
