"""Checks shared by every service: status, message, header, field."""

from pytest_bdd import parsers, then

from harness.case import Case


@then(parsers.parse("статус ответа {code:d}"))
def status_is(case: Case, code: int) -> None:
    case.expect_status(code)


@then(parsers.parse("статус ответа {family:d}xx"))
def status_in_family(case: Case, family: int) -> None:
    case.expect_status(*range(family * 100, family * 100 + 100))


@then(parsers.parse("статус ответа {first:d} или {second:d}"))
def status_is_one_of(case: Case, first: int, second: int) -> None:
    case.expect_status(first, second)


@then(parsers.parse("каждый ответ имеет статус {code:d}"))
def every_status_is(case: Case, code: int) -> None:
    case.expect_every_status(code)


@then(parsers.parse('сообщение ответа "{message}"'))
def message_is(case: Case, message: str) -> None:
    case.expect_message(message)


@then(parsers.parse('сообщение ответа содержит "{text}"'))
def message_contains(case: Case, text: str) -> None:
    case.expect_message_containing(text)


@then(parsers.parse('в ответе есть заголовок "{name}"'))
def header_present(case: Case, name: str) -> None:
    case.expect_header(name)


@then(parsers.parse('в ответе есть поле "{field}"'))
def field_present(case: Case, field: str) -> None:
    case.expect_field(field)
