"""The simulator's records written in the JSON shapes QPay v2 answers with."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from paygrant.qpay_sim.responses import amount_number, amount_text
from paygrant.qpay_sim.state import SimInvoice, SimPayment, iso

# (name, description, deeplink scheme) of the apps QPay lists under an invoice's urls.
_BANK_APPS = (
    ("qPay wallet", "qPay wallet app", "qpaywallet"),
    ("Khan bank", "Khan bank app", "khanbank"),
    ("State bank", "State bank app", "statebank"),
    ("Xac bank", "Xac bank app", "xacbank"),
    ("Trade and Development bank", "TDB online", "tdbbank"),
    ("Golomt bank", "Golomt bank app", "golomtbank"),
    ("Most money", "Most money app", "most"),
    ("National investment bank", "NIBank app", "nibank"),
    ("Chinggis khaan bank", "Chinggis khaan bank app", "ckbank"),
    ("Bogd bank", "Bogd bank app", "bogdbank"),
)


def qr_text(invoice: SimInvoice) -> str:
    """The text a bank app reads from the invoice's QR code."""
    return f"QPAYSIM|{invoice.invoice_code}|{invoice.invoice_id}|{amount_text(invoice.amount)}"


def deeplinks(text: str) -> list[dict[str, str]]:
    """The `urls` of a created invoice: one link per bank app."""
    return [
        {
            "name": name,
            "description": description,
            "logo": f"https://qpay.mn/q/logo/{scheme}.png",
            "link": f"{scheme}://q?qPay_QRcode={quote(text, safe='')}",
        }
        for name, description, scheme in _BANK_APPS
    ]


def invoice_json(invoice: SimInvoice) -> dict[str, Any]:
    """`GET /invoice/{id}`."""
    total = amount_number(invoice.amount)
    return {
        "invoice_id": invoice.invoice_id,
        "invoice_status": invoice.status,
        "sender_invoice_no": invoice.sender_invoice_no,
        "sender_branch_code": None,
        "invoice_description": invoice.description,
        "invoice_receiver_code": invoice.receiver_code,
        "enable_expiry": False,
        "allow_partial": False,
        "minimum_amount": None,
        "allow_exceed": False,
        "maximum_amount": None,
        "total_amount": total,
        "gross_amount": total,
        "tax_amount": 0,
        "surcharge_amount": 0,
        "discount_amount": 0,
        "callback_url": invoice.callback_url,
        "note": None,
        "lines": [],
        "transactions": [],
        "inputs": [],
        "created_date": iso(invoice.created_at),
        "payments": [check_row(payment) for payment in invoice.payments],
    }


def _transactions(payment: SimPayment) -> dict[str, list[dict[str, Any]]]:
    detail = {
        "status": "SUCCESS",
        "amount": amount_text(payment.amount),
        "currency": payment.currency,
    }
    if payment.payment_type == "CARD":
        card = {**detail, "card_type": "VISA", "is_cross_border": False, "settlement_status": "PENDING"}
        return {"card_transactions": [card], "p2p_transactions": []}
    p2p = {
        **detail,
        "transaction_bank_code": "050000",
        "account_bank_code": "050000",
        "account_bank_name": "Khan bank",
        "account_number": "5000000000",
        "settlement_status": "SETTLED",
    }
    return {"card_transactions": [], "p2p_transactions": [p2p]}


def payment_json(payment: SimPayment) -> dict[str, Any]:
    """`GET /payment/{id}`: the object is the invoice the payment was made on."""
    return {
        "payment_id": payment.payment_id,
        "payment_status": payment.status,
        "payment_fee": "0.00",
        "payment_amount": amount_text(payment.amount),
        "payment_currency": payment.currency,
        "payment_date": iso(payment.paid_at),
        "payment_wallet": "qPay wallet",
        "transaction_type": payment.payment_type,
        "object_type": "INVOICE",
        "object_id": payment.invoice_id,
        **_transactions(payment),
    }


def check_row(payment: SimPayment) -> dict[str, Any]:
    """One row of `POST /payment/check`: no object fields, the request named it."""
    return {
        "payment_id": payment.payment_id,
        "payment_status": payment.status,
        "payment_amount": amount_text(payment.amount),
        "trx_fee": "0.00",
        "payment_currency": payment.currency,
        "payment_wallet": "qPay wallet",
        "payment_type": payment.payment_type,
        "payment_date": iso(payment.paid_at),
        "next_payment_date": None,
        "next_payment_datetime": None,
        **_transactions(payment),
    }


def list_row(payment: SimPayment, invoice: SimInvoice) -> dict[str, Any]:
    """One row of `POST /payment/list`."""
    return {
        "payment_id": payment.payment_id,
        "payment_date": iso(payment.paid_at),
        "payment_status": payment.status,
        "payment_fee": "0.00",
        "payment_amount": amount_text(payment.amount),
        "payment_currency": payment.currency,
        "payment_wallet": "qPay wallet",
        "payment_name": invoice.description,
        "payment_description": invoice.description,
        "payment_type": payment.payment_type,
        "object_type": "INVOICE",
        "object_id": payment.invoice_id,
    }
