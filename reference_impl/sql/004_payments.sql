-- Version 4: durable payments, one per Id whatever its case, positive amounts, 409 for a conflicting resend.

-- to_can: payments -----------------------------------------------------------------------------------------

-- An Id names one payment whatever its case (Ids are visible ASCII, checked by the service); amounts are positive.
CREATE UNIQUE INDEX payments_id_ci_key ON to_can.payments (lower(id));
ALTER TABLE to_can.payments ADD CONSTRAINT payments_amount_positive CHECK (amount > 0) NOT VALID;

-- Validates the merchant, stores the payment idempotently on Id and returns the result. An identical resend
-- returns the same result; the same Id with other data is refused with `status` 409 and says nothing of what is
-- stored. The commit is synchronous whatever the server's default: a 200 means the payment is durable.
CREATE OR REPLACE FUNCTION to_can.process_webhook(payload jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_payment to_can.payments;
BEGIN
    PERFORM set_config('synchronous_commit', 'on', true);
    IF NOT EXISTS (SELECT 1 FROM to_can.merchants m WHERE m.mid = payload ->> 'MID' AND m.is_active) THEN
        RETURN jsonb_build_object('error', 'Invalid MID');
    END IF;

    INSERT INTO to_can.payments (
        id, mid, amount, reader_id, source_created_at, input_type, client_name, description, callback)
    VALUES (
        payload ->> 'Id', payload ->> 'MID', (payload ->> 'Amount')::numeric, payload ->> 'ReaderId',
        payload ->> 'CreatedAt', (payload ->> 'Inputtype')::integer, payload ->> 'ClientName',
        payload ->> 'Description', payload)
    ON CONFLICT DO NOTHING
    RETURNING * INTO v_payment;

    IF NOT FOUND THEN
        SELECT * INTO v_payment FROM to_can.payments p WHERE lower(p.id) = lower(payload ->> 'Id');
        -- Amount compared as a number ("5.0" is "5.00"), everything else as sent; the Id only up to case.
        IF v_payment.amount <> (payload ->> 'Amount')::numeric
           OR (v_payment.callback - 'Id' - 'Amount') IS DISTINCT FROM (payload - 'Id' - 'Amount') THEN
            RETURN jsonb_build_object('error', 'Payment Id already used with different data', 'status', 409);
        END IF;
    END IF;

    RETURN jsonb_build_object(
        'status', 'processed',
        'payment_id', v_payment.id,
        'mid', v_payment.mid,
        'amount', to_char(v_payment.amount, 'FM999999999990.00'),
        'received_at', v_payment.received_at);
END;
$$;
