"""The Brevo contact attributes the sync writes: their names (settings, since accounts differ)
and the type each must have in Brevo."""

from __future__ import annotations

from dataclasses import dataclass

# Brevo's attribute names: upper-case letters, digits and underscores.
NAME_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


@dataclass(frozen=True)
class AttributeNames:
    """Where each synced field goes in Brevo. A French-language account, for one, has NOM and
    PRENOM instead of FIRSTNAME and LASTNAME; Brevo ignores a value for an unknown name."""

    firstname: str = "FIRSTNAME"
    lastname: str = "LASTNAME"
    sms: str = "SMS"
    used_welcome_offer: str = "USED_WELCOME_OFFER"

    def wanted(self) -> list[tuple[str, str, str]]:
        """(setting, attribute name, type the sync writes), in the order a check shows them."""
        return [
            ("BREVO_ATTR_FIRSTNAME", self.firstname, "text"),
            ("BREVO_ATTR_LASTNAME", self.lastname, "text"),
            ("BREVO_ATTR_SMS", self.sms, "text"),
            ("BREVO_ATTR_USED_WELCOME_OFFER", self.used_welcome_offer, "boolean"),
        ]

    @property
    def booleans(self) -> tuple[str, ...]:
        return (self.used_welcome_offer,)

    def sql_params(self) -> dict[str, str]:
        """For the SQL that reads these attributes out of a contact's JSON."""
        return {"attr_firstname": self.firstname, "attr_lastname": self.lastname,
                "attr_sms": self.sms, "attr_used_welcome_offer": self.used_welcome_offer}


DEFAULT_NAMES = AttributeNames()
