"""Breaking a service's dependencies for a moment, and restoring them (fault cases, run alone)."""

from pytest_bdd import given, parsers, then, when

from harness.case import Case


@given(parsers.parse("база данных сервиса {service} недоступна"))
def database_down(case: Case, service: str) -> None:
    case.cut(service, "database")


@when(parsers.parse("база данных сервиса {service} снова доступна"))
def database_back(case: Case, service: str) -> None:
    case.restore(service, "database")


@given(parsers.parse("Redis сервиса {service} недоступен"))
def redis_down(case: Case, service: str) -> None:
    case.cut(service, "redis")


@when(parsers.parse("Redis сервиса {service} снова доступен"))
def redis_back(case: Case, service: str) -> None:
    case.restore(service, "redis")


@then(parsers.parse("ответ получен быстрее чем за {seconds:d} с"))
def answered_within(case: Case, seconds: int) -> None:
    case.expect_answer_within(seconds)
