"""webhook: POST /webhook (the 2can callback)."""

from pytest_bdd import given, parsers, then, when

from harness.case import Case


@given("функция to_can.process_webhook завершается неизвестной ошибкой")
def function_broken(case: Case) -> None:
    case.break_webhook_function()


@when("я отправляю валидный вебхук")
@when("я отправляю валидный вебхук без авторизации")
def send_valid(case: Case) -> None:
    case.send_webhook()


@when(parsers.parse('я отправляю вебхук без поля "{field}"'))
def send_without(case: Case, field: str) -> None:
    case.send_webhook_without(field)


@when(parsers.parse('я отправляю вебхук с MID "{mid}"'))
def send_with_mid(case: Case, mid: str) -> None:
    case.send_webhook(MID=mid)


@then("тело ответа — результат to_can.process_webhook")
def body_is_function_result(case: Case) -> None:
    case.expect_webhook_result()


@then(parsers.parse("в логе сервиса {service} есть запись с X-Request-ID ответа"))
def log_has_request_id(case: Case, service: str) -> None:
    case.expect_log_record(service)


@then(parsers.parse("в логе сервиса {service} есть запись уровня {level} с X-Request-ID ответа"))
def log_has_level_record(case: Case, service: str, level: str) -> None:
    case.expect_log_record(service, level, required=False)
