from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    # SMTP (the stack sets SMTP_HOST and SMTP_PORT)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_implicit_tls: bool = Field(default=False, description="TLS from the first byte (port 465)")
    smtp_starttls: Literal["auto", "required", "off"] = Field(
        default="auto",
        description="auto: upgrade when offered, and always when credentials are set; required: refuse plain text",
    )
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_validate_certs: bool = True
    smtp_cafile: str | None = None
    smtp_timeout_s: float = Field(default=10.0, gt=0, le=300)

    # the messages
    mail_from: str = "Backorder Shop <no-reply@shop.example>"
    mail_domain: str = Field(default="shop.example", description="Right-hand side of Message-IDs")
    order_url: str = Field(default="https://shop.example/orders/{order_id}",
                           description="Where the buyer sees (and may cancel) an order")

    # the email queue
    email_batch: int = Field(default=40, ge=1, le=1000, description="Emails claimed per round")
    smtp_connections: int = Field(
        default=8, ge=1, le=32,
        description="SMTP connections a sender keeps open at once, each sending one message at a time and recording "
                    "it before its next DATA: a crash can send at most this many emails twice (R22). The default is "
                    "measured (docs/scaling.md)",
    )
    email_poll_s: float = Field(default=1.0, gt=0)
    email_lease_s: float = Field(default=120.0, gt=0, description="A claim older than this is taken over")
    email_max_attempts: int = Field(default=8, ge=1, le=100)
    email_retry_base_s: float = Field(default=30.0, gt=0)
    email_retry_max_s: float = Field(default=3600.0, gt=0)
    email_expire_after_s: float = Field(
        default=3 * 24 * 3600.0, gt=0, description="An email still unsent after this is failed (SMTP down for days)"
    )
    smtp_reconnect_base_s: float = Field(default=0.5, gt=0)
    smtp_reconnect_max_s: float = Field(default=30.0, gt=0)
