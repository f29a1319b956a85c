"""``faststream docs gen services.inventory.asyncapi:app``"""

from services.inventory.app import DEFINITION
from shared.asyncapi_app import docs_app

app = docs_app(DEFINITION)
