"""``faststream docs gen services.inventory.asyncapi:app``"""

from services.inventory.app import DEFINITION
from shared.service import docs_app

app = docs_app(DEFINITION)
