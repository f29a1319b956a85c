"""``faststream docs gen services.catalog.asyncapi:app``"""

from services.catalog.app import DEFINITION
from shared.asyncapi_app import docs_app

app = docs_app(DEFINITION)
