from services.notifications.app import DEFINITION
from shared.service import main

main(DEFINITION)
