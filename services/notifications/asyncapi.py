"""``faststream docs gen services.notifications.asyncapi:app``"""

from services.notifications.app import DEFINITION
from shared.asyncapi_app import docs_app

app = docs_app(DEFINITION)
