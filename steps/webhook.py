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


@when(parsers.parse('я отправляю вебхук с Amount "{amount}"'))
def send_with_amount(case: Case, amount: str) -> None:
    case.send_webhook(Amount=amount)


@given("вебхук уже принят")
def webhook_accepted(case: Case) -> None:
    case.ensure_webhook_accepted()


@when("я отправляю тот же вебхук ещё раз")
def resend(case: Case) -> None:
    case.resend_webhook()


@when("я отправляю вебхук с тем же Id и другой суммой")
def resend_conflicting(case: Case) -> None:
    case.resend_webhook(Amount="777.00")


@then("ответ совпадает с ответом на первую отправку")
def same_answer(case: Case) -> None:
    case.expect_same_answer_as_first()


@then("ответ не раскрывает сохранённый платёж")
def discloses_nothing(case: Case) -> None:
    case.expect_stored_payment_undisclosed()


@then("тело ответа — результат to_can.process_webhook")
def body_is_function_result(case: Case) -> None:
    case.expect_webhook_result()


@then(parsers.parse("в логе сервиса {service} есть запись с X-Request-ID ответа"))
def log_has_request_id(case: Case, service: str) -> None:
    case.expect_log_record(service)


@then(parsers.parse("в логе сервиса {service} есть запись уровня {level} с X-Request-ID ответа"))
def log_has_level_record(case: Case, service: str, level: str) -> None:
    case.expect_log_record(service, level, required=False)
