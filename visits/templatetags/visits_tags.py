from django import template

register = template.Library()


@register.filter
def local_phone(msisdn: str) -> str:
    """84901234567 -> 0901 234 567, as staff read a number out to a customer."""
    text = str(msisdn or "")
    if len(text) == 11 and text.startswith("84"):
        national = "0" + text[2:]
        return f"{national[:4]} {national[4:7]} {national[7:]}"
    return text
