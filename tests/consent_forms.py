"""Reading the consent page's form the way a browser would submit it."""

import re

import httpx

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0"


def form_fields(page: httpx.Response) -> dict[str, str]:
    """The hidden fields of the page's form."""
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text))
