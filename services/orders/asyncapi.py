"""``faststream docs gen services.orders.asyncapi:app``"""

from services.orders.app import DEFINITION
from shared.service import docs_app

app = docs_app(DEFINITION)
