"""auth: /register, /login, /refresh, /logout."""

from pytest_bdd import given, parsers, when

from harness.case import Case


@given("зарегистрированный пользователь")
def registered_user(case: Case) -> None:
    case.ensure_registered_user()


@given("зарегистрирован другой пользователь")
def other_user(case: Case) -> None:
    case.ensure_other_user()


@given("refresh_token уже использован для обновления")
def refresh_token_spent(case: Case) -> None:
    case.spend_refresh_token()


@given("пользователь ещё раз вошёл по second_login")
def logged_in_again(case: Case) -> None:
    case.ensure_logged_in_again()


@given("пользователь вышел из системы")
def logged_out(case: Case) -> None:
    case.ensure_logged_out()


@when(parsers.parse('я регистрирую пользователя с валидными данными и группой "{group}"'))
def register_valid(case: Case, group: str) -> None:
    case.register(group_names=[group])


@when(parsers.parse('я регистрирую пользователя без поля "{field}"'))
def register_without(case: Case, field: str) -> None:
    case.register_without(field)


@when(parsers.parse('я регистрирую пользователя, у которого {field} = "{value}"'))
def register_with(case: Case, field: str, value: str) -> None:
    case.register(**{field: value})


@when(parsers.parse('я регистрирую пользователя с группой "{group}"'))
def register_with_group(case: Case, group: str) -> None:
    case.register(group_names=[group])


@when(parsers.parse("я регистрирую другого пользователя с тем же {field}"))
def register_duplicate(case: Case, field: str) -> None:
    case.register_duplicate_of(field)


@when(parsers.parse("я вхожу по {field} с верным паролем"))
def login_by(case: Case, field: str) -> None:
    case.login_by(field)


@when(parsers.parse("я вхожу по {field} с неверным паролем"))
def login_wrong_password(case: Case, field: str) -> None:
    case.login_with_wrong_password(field)


@when(parsers.parse("я вхожу по несуществующему {field}"))
def login_unknown(case: Case, field: str) -> None:
    case.login_unknown(field)


@when("я вхожу без пароля")
def login_without_password(case: Case) -> None:
    case.login_without_password()


@when("я обновляю токены по действующему refresh_token")
def refresh_current(case: Case) -> None:
    case.refresh_current()


@when("я обновляю токены по истёкшему refresh_token")
def refresh_expired(case: Case) -> None:
    case.refresh_expired()


@when("я обновляю токены по уже использованному refresh_token")
def refresh_spent(case: Case) -> None:
    case.refresh_spent()


@when(parsers.parse('я обновляю токены по строке "{token}"'))
def refresh_with(case: Case, token: str) -> None:
    case.refresh_with(token)


@when("я обновляю токены по access_token вместо refresh_token")
def refresh_with_access_token(case: Case) -> None:
    case.refresh_with_access_token()


@when("я обновляю токены по каждому refresh_token пользователя")
def refresh_every(case: Case) -> None:
    case.refresh_every_user_token()


@when("я выхожу с действующим access_token")
@when("я снова выхожу с тем же access_token")
def logout(case: Case) -> None:
    case.logout()


@when("я выхожу без заголовка Authorization")
def logout_without_header(case: Case) -> None:
    case.logout_without_header()


@when("я выхожу с невалидным токеном")
def logout_invalid(case: Case) -> None:
    case.logout_with_invalid_token()


@when("я выхожу с просроченным токеном")
def logout_expired(case: Case) -> None:
    case.logout_with_expired_token()


@when("я выхожу с refresh_token вместо access_token")
def logout_with_refresh_token(case: Case) -> None:
    case.logout_with_refresh_token()
